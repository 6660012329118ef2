"""`make chaos`: faults injected into the native stack during a steady load, and what they did."""
