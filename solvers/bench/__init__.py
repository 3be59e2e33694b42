"""The benchmark sweep: datasets, the results store, the runner, reports and plots."""
