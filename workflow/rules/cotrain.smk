# Stage: cotrain (see workflow/neuroreg/)
