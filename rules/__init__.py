"""Rules: detectors and actions run on every request and response in the gateway path."""
