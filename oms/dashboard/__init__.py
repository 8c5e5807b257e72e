"""The operator dashboard: MRR, churn, renewals, orders and stock at a glance (staff only)."""
