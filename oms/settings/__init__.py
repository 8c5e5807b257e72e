"""Settings split by concern: ``base`` (everything, from the environment), ``local``
(developer defaults), ``test`` and ``production``."""
