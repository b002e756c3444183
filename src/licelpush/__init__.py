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
            runpoll ......... polled acquisition (START, STOP, DATA?) for --mode poll
            runrecords ...... push bytes -> records and quarantined spans
            runoutput ....... the files of a run (writer, journal, quarantine)
            runend .......... the end of a run: SLAVE, drain, close, the stop event
            client .......... blocking controller client (sockets)
            filewriter ...... Licel files on disk
            journal ......... journal and quarantine files
            tailrepair ...... data files read mapped; a killed run's cut record repaired
            invalidlog ...... readable log of invalid push data
            discovery ....... UDP discovery of controllers
            emulator/ ....... controller emulator (asyncio server + its model)
            testing ......... running the emulator in a thread
            datafiles ....... finding and streaming a station's Licel files
            netcdflib ....... the optional netCDF library, files written whole
            cfnetcdf ........ CF-1.8 netCDF product
            scc ............. SCC raw-data product
            station ......... status file, sd_notify, disk probe, schedule clock
            statusfile ...... status.json, replaced atomically
            sdnotify ........ systemd notification socket
            layoutwriter .... data files into the folders of the layout
            quicklook ....... time-range pictures (matplotlib)
            monitorserver ... the live monitor: following a directory, serving the page
            platform ........ every OS-specific call: POSIX and portable (Windows) forms
    core    session ......... the run's rules: events in, actions out
            plan ............ configuration + hardware -> MPUSH command, frame layout
            framing ......... push stream -> accepted frames and damaged spans
            decode, encode .. frame bytes <-> profiles
            wordlayout ...... frame head and raw-word layout
            records ......... decoded frame -> Licel record
            recordtimes ..... record start/stop times, timestamp byte order
            licelfile ....... Licel file format: read, write, names
            config .......... Acquis.ini
            hardware ........ ``TRTYPE?`` description
            commands ........ the command table (requests and replies)
            hv .............. PMT voltages: from the configuration, limits, read-back
            readers ......... limits of public readers of Licel files
            events .......... the journal's events (its schema)
            limits .......... fixed limits, protocol constants, header field ranges
            notices ......... rate-limited warnings
            errors .......... errors and exit statuses
            physical ........ physical units (mV, MHz) and range axes
            channelkey ...... which recorder memory a dataset comes from
            sccmap .......... SCC channel map (TOML)
            rewrite ......... records re-encoded with times in UTC
            layout .......... ``--layout``/``--dark`` -> sub-folder of a file
            diskguard ....... ``--min-free`` -> ok, warn, stop
            schedule ........ ``--schedule`` windows (sun times from astral)
            status .......... status.json keys, liveness, text for people
            curtain ......... time-range grids of a channel's signal
            monitorstate .... the monitor's health and signal documents
            workdir ......... which ``working_directory`` is usable on which system

Core modules: ``session``, ``plan``, ``framing``, ``decode``, ``encode``,
``records``, ``recordtimes``, ``licelfile``, ``config``, ``hardware``,
``commands``, ``readers``, ``limits``, ``notices``, ``errors``, ``events``,
``wordlayout``, ``physical``, ``channelkey``, ``sccmap``, ``rewrite``, ``hv``,
``layout``, ``diskguard``, ``schedule``, ``status``, ``curtain``, ``monitorstate``,
``workdir``.
"""

__version__ = "0.1.0"
