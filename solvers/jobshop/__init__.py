"""Job shop methods: CP-SAT recipes, tabu search, LNS, the blocking and rescheduling variants."""
