#!/bin/sh
# Example script action: prints the event it received on stdin.
# Exit 0 = completed, 75 = try again later (dead-letter queue), anything else = failed.
cat
