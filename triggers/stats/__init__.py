"""Stats: the hourly rollup the database keeps, the figures every view shows, charts and metrics."""
