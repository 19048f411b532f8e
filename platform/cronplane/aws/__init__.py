"""AWS side of deploy: session, intent-level client, inventory, planner, executor."""
