"""Loopback stand-ins for the outside services: Slack's Web API and file host, Rekognition, Socket Mode."""
