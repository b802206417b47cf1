"""Design-space exploration: sweep expansion, parallel execution, Pareto fronts."""
