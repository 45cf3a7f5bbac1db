# Stage 7: figures of the co-training results, tables, the report
