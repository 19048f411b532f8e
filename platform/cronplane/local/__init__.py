"""The embedded default: local Lambda runner, AWS emulator and scheduler behind `jobctl dev` and `run-now --local`."""
