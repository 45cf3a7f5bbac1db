# Stage 2: reliability (Eq. 1, 3-5)
