"""Deployment tooling: what surrounds the Lambda functions and how their code is packaged."""
