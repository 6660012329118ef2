"""`make capacity`: the highest rate that holds the SLO, and the resource that limits it."""
