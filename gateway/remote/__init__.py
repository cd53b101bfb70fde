"""What the platform pushes: desired config documents and commands."""
