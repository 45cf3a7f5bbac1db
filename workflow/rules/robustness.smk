# Stage 6: robustness (Gaussian noise, Foolbox attacks)
