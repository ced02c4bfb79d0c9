"""Running a backend: a machine of host, domains and loaded backend; workloads, laws, the run report."""
