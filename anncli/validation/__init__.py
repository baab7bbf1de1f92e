"""Testing a potential as users need it: test-set errors, extrapolation, committees (anncli validate)."""
