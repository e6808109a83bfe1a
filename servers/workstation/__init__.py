"""Workstation servers: the gateway's side of the tunnel to a person's connector."""
