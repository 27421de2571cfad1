"""What the tests (and bench/) share that is not a fixture: signing, processes, the sandbox."""
