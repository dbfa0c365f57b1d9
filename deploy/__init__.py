"""What a hospital runs to serve ClinSight: the cluster launcher, its process management and local PostgreSQL."""
