"""The subscription use cases, one module each, as a plan and its apply.

    scope.py      the account at one instant: shared checks and values (reads only)
    subscribe.py  plan_subscribe: paid, trial (T1, T4), legacy migration (L3)
    change.py     plan_change, plan_add_camera, plan_remove_camera (C2, C3)
    cycle.py      plan_cycle_change (P5)
    cancel.py     plan_cancel (C1), plan_cancel_legacy (L4)
    plan.py       BillingPlan: the frozen quote and the ordered effects
    apply.py      apply: carries out a plan's effects, then clip retention; never commits

A `plan_*` function reads (under the account's lock) and raises the use case's errors; a
preview is its quote. The real call is `apply(scope, payer, plan)` in the same transaction,
which `billing.charging.run_charged` runs twice around a card charge (plan and apply again
under the same locks; a changed amount is refused with BillingChanged).
"""
