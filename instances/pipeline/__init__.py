"""Pipeline-stage placement: the problem, profiles of real models, the 1F1B schedule simulator."""
