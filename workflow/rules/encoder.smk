# Stage: encoder (see workflow/neuroreg/)
