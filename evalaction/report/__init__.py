"""Reports: markdown (PR comment, job summary), self-contained HTML, JSON."""
