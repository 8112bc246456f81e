"""What the segments mean for a person who acts on them: figures, names, actions, trust.

``figures`` (the counts and percentiles of a group and of all learners, which either engine
computes), ``profiles`` (a group's profile from its figures; ``profiles.json``), ``naming`` (the
vocabulary of segment names), ``actions`` (the recommendation catalogue, and the three actions
to take first), ``trust`` (how far to trust each segment: its stability, the second method,
what to act on), ``facts`` (what sets a segment apart from all learners) and ``wording`` (how
figures are written). The report (:mod:`training.report`) only presents what these decide.
"""
