"""Alma Tools: bulk discharge of Alma loans and concurrent-checkout statistics.

The package is laid out so that each job has one implementation and thin faces around it:

- ``tables``           reading CSV/XLSX/sheet exports into validated tables (no Excel in it)
- ``ids``              detecting Alma ids damaged by Excel
- ``discharge``        the discharge run: plan, execute, journal, outcomes
- ``concurrency``      the concurrent-checkout statistics and their report layout
- ``alma``             the one Alma client: session, key, pacing, retries, Alma's error shapes
- ``simulator``        a faithful loopback Alma used by tests, benchmarks and the demo
- ``cli``              the command-line face (``alma-tools``)
- ``excel``, ``udfs``  the Excel face (ribbon macros and worksheet functions, via xlwings)
- ``workbook_build``   builds ``workbook/alma_tools.xlsm`` from the text sources in ``workbook/``
"""

__version__ = "0.1.0"
