"""licelpush: acquisition software for lidar stations with Licel transient recorders.

Reads the station's Acquis.ini, drives a Licel Ethernet controller in MPUSH
mode, decodes every pushed frame and saves Licel raw data files. Includes a
controller emulator for running and testing the whole chain without hardware.

Layer map (docs/ARCHITECTURE.md); imports go down only, and the core never
imports an edge nor any of socket, asyncio, threading, signal, select,
selectors, queue, subprocess (``tests/test_layering.py``)::

    edges   cli/ ............ commands of the ``licelpush`` program
            acquisition ..... the IO loop of a run
            runlink ......... one connection: set-up up to MPUSH
            runrecords ...... push bytes -> records and quarantined spans
            runoutput ....... the files of a run (writer, journal, quarantine)
            client .......... blocking controller client (sockets)
            filewriter ...... Licel files on disk
            journal ......... journal and quarantine files
            invalidlog ...... readable log of invalid push data
            emulator/ ....... controller emulator (asyncio server + its model)
            testing ......... running the emulator in a thread
            datafiles ....... finding and streaming a station's Licel files
            netcdflib ....... the optional netCDF library, files written whole
            cfnetcdf ........ CF-1.8 netCDF product
            scc ............. SCC raw-data product
            quicklook ....... time-range pictures (matplotlib)
            monitorserver ... the live monitor: following a directory, serving the page
    core    session ......... the run's rules: events in, actions out
            plan ............ configuration + hardware -> MPUSH command, frame layout
            framing ......... push stream -> accepted frames and damaged spans
            decode, encode .. frame bytes <-> profiles
            records ......... decoded frame -> Licel record
            licelfile ....... Licel file format: read, write, names
            config .......... Acquis.ini
            hardware ........ ``TRTYPE?`` description
            commands ........ the command table (requests and replies)
            readers ......... limits of public readers of Licel files
            limits .......... fixed limits and protocol constants
            headerlimits .... largest values of the Licel header fields
            notices ......... rate-limited warnings
            errors .......... errors and exit statuses
            physical ........ physical units (mV, MHz) and range axes
            channelkey ...... which recorder memory a dataset comes from
            sccmap .......... SCC channel map (TOML)
            rewrite ......... records re-encoded with times in UTC
            curtain ......... time-range grids of a channel's signal
            monitorstate .... the monitor's health and signal documents

Core modules: ``session``, ``plan``, ``framing``, ``decode``, ``encode``,
``records``, ``licelfile``, ``config``, ``hardware``, ``commands``,
``readers``, ``limits``, ``headerlimits``, ``notices``, ``errors``,
``physical``, ``channelkey``, ``sccmap``, ``rewrite``, ``curtain``, ``monitorstate``.
"""

__version__ = "0.1.0"
