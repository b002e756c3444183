# ruff: noqa: E501, F841, I001  (the document's code is kept as written)
"""The MPUSH program of ``mpush-workflow.rst``, run unchanged on licelpush's ``Licel`` package.

Every code block of the document appears below verbatim and in the document's
order, with one exception Python imposes: the function of section 9 "Single
acquisition cycle" is defined before the main loop that calls it. Added are only
what the document leaves implicit: ``logFilePath`` and ``commandLineInterface()``.

Usage (from a folder holding ``Acquis.ini``)::

    python mpush.py --ip 10.49.234.234 --port 2055 --acq 10 --shots 150 \\
        --acquis_per_file 10 --log

Try it without hardware: ``licelpush emulate --config Acquis.ini`` in another
terminal, then ``python mpush.py --ip 127.0.0.1``.
"""

# 1. import modules
from Licel import licel_tcpip, licel_data, licel_Config
from datetime import datetime
import argparse

# implicit in the document: where invalid push data are logged (--log)
logFilePath = "mpush_log.txt"


# implicit in the document: the command line interface
def commandLineInterface():
    argparser = argparse.ArgumentParser(
        description="MPUSH acquisition with a Licel Ethernet controller; reads Acquis.ini "
        "from the current directory and saves Licel files into its working_directory.")
    argparser.add_argument("--ip", type=str, default="10.49.234.234",
                           help="controller IP address (default: the factory address 10.49.234.234)")
    argparser.add_argument("--port", type=int, default=2055,
                           help="controller command port (default 2055; push is port + 1)")
    argparser.add_argument("--acq", type=int, default=10,
                           help="number of acquisition cycles; -1 = until Ctrl-C (default 10)")
    argparser.add_argument("--shots", type=int, default=150,
                           help="shots per acquisition (default 150)")
    argparser.add_argument("--acquis_per_file", type=int, default=10,
                           help="acquisitions written into one file (default 10)")
    argparser.add_argument("--log", default=False, action=argparse.BooleanOptionalAction,
                           help=f"log invalid push data into {logFilePath} (default --no-log)")
    return argparser.parse_args()


# 2. Initialize acquisition parameters
#initialize acquisition parameters using parameters passed from command line interface
myArguments = commandLineInterface()
ip = myArguments.ip
port = myArguments.port
desiredShots = myArguments.shots
ACQUISTION_CYCLES = myArguments.acq
ACQUISPERFILE = myArguments.acquis_per_file
LOGPUSHDATA = myArguments.log

# 3. Create object needed for data acquisition
ethernetController = licel_tcpip.EthernetController (ip, port)
dataParser = licel_data.DataParser()
ConfigInfo = licel_Config.Config("Acquis.ini")

# 4. Read ConfigInfo and initiate communication with hardware
ConfigInfo.readConfig()
ethernetController.openConnection()
ethernetController.openPushConnection()

# 6. Get installed transient recorders in the system
print(ethernetController.listInstalledTr())

# 7. Configure the active transient records hardware in the system as specified in the configuration file
ethernetController.configureHardware(ConfigInfo)

# 8. Start the MPUSH acquisition.
print(ethernetController.MPushStartFromConfig(desiredShots, ConfigInfo))


# 9. Single acquisition cycle (defined here, before the main loop that calls it)
def singleAcquistionCycle(ethernetController, dataParser, ConfigInfo):

    startTime =  datetime.now()
    ethernetController.recvPushData()
    stopTime =  datetime.now()

    (dataValid,
    dataSets,
    time_stamp,
    analogue_shots,
    pc_shots) = dataParser.parseDataFromBuffer(ConfigInfo,
                                                ethernetController,
                                                desiredShots)

    if (dataValid):
        dataParser.savePushDataToFile(dataSets,
                                    ConfigInfo,
                                    startTime,stopTime,
                                    ethernetController.hardwareInfos,
                                    time_stamp,
                                    analogue_shots,
                                    pc_shots,
                                    desiredShots,
                                    ACQUISPERFILE )

    else :
        if (LOGPUSHDATA):
            controllerTimeMs = ethernetController.getMilliSecs()
            Idn = ethernetController.getID()
            print("Invalid data received with timestamp:",controllerTimeMs)
            dataParser.pushDataLog(logFilePath,
                                    ethernetController.pushBuffer,
                                    Idn,
                                    controllerTimeMs,
                                    ConfigInfo)
        # if data is not valid clear buffer until next occurrence of xff xff
        dataParser.removeInvalidDataFromBuffer(ethernetController.pushBuffer)


# 9. Main acquisition loop
cycle_count = 0
while ((cycle_count < ACQUISTION_CYCLES) or (ACQUISTION_CYCLES == -1) ):
    try:
        cycle_count += 1
        singleAcquistionCycle(ethernetController, dataParser, ConfigInfo)
    except (ConnectionError, ConnectionResetError, TimeoutError) as myExecption:
        cycle_count = cycle_count - 1
        ethernetController.reconnection(ConfigInfo)
        print("*** Restarting MPUSH *** ")
        print(ethernetController.MPushStartFromConfig(desiredShots, ConfigInfo))
    except KeyboardInterrupt:
        print("User interrupted program by pressing Ctrl-C.")
        break

# 10. disable push mode and close connection to the ethernet controller.
ethernetController.MPushStop()
ethernetController.shutdownConnection()
ethernetController.shutdownPushConnection()
