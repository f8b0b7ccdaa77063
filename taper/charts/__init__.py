"""Charts drawn on the server: plain data in, image bytes out (matplotlib Figure + Agg; never
pyplot, which keeps global state). Importing matplotlib is slow: import this package once at
start-up, not per request."""
