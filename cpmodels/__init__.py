"""CP-SAT encodings: one module per problem family. Nothing here runs a solver or reads a file."""
