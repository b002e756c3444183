"""Drop-in compatibility with the vendor's ``Licel`` Python API, on the licelpush core.

Scripts written against the vendor library (``from Licel import licel_tcpip,
licel_data, licel_Config``; the MPUSH program of ``mpush-workflow.rst``) run
unchanged. The modules here are thin adapters: configuration reading, the
controller client, framing, decoding, record building and file writing are
licelpush's (:mod:`licelpush.config`, :mod:`licelpush.client`,
:mod:`licelpush.framing`, :mod:`licelpush.decode`, :mod:`licelpush.records`,
:mod:`licelpush.filewriter`). Where the vendor library loses frames, mis-decodes
or writes files readers reject (PROTOCOL.md, LICEL_FILE_FORMAT.md), these
adapters behave correctly; ``docs/VENDOR_API.md`` lists the differences.

- :mod:`Licel.licel_Config`: ``Config`` (``readConfig``, ``measurementInfo``, ``TrConfigs``)
- :mod:`Licel.licel_tcpip`: ``EthernetController``
- :mod:`Licel.licel_data`: ``DataParser``
"""

from __future__ import annotations

__all__ = ["licel_Config", "licel_data", "licel_tcpip"]
