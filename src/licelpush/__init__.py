"""licelpush: acquisition software for lidar stations with Licel transient recorders.

Reads the station's Acquis.ini, drives a Licel Ethernet controller in MPUSH
mode, decodes every pushed frame and saves Licel raw data files. Includes a
controller emulator for running and testing the whole chain without hardware.
"""

__version__ = "0.1.0"
