"""The customer self-service portal: outer-ring pages that call any app's services and
selectors (never writing models directly) for the logged-in customer only."""
