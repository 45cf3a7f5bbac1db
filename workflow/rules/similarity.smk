# Stage: similarity (see workflow/neuroreg/)
