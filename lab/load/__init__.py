"""The load runner: settings, plan, tools, verdict and run (`lab.load.run.run(settings)`).

Deliberately empty: the locustfile imports the plan and the traffic model from here in a load
generator that has none of the runner's other parts (compose, k8s)."""
