"""Job shops: the problem, its file formats, variants (blocking, unavailability), generators."""
