"""A classic START / STOP / DATA? acquisition written against the vendor's ``Licel`` API.

The calls, their order and their arguments are those of the vendor's
``sampleAcquis.py``; the script is run unchanged from an empty folder by the
tests. Usage: ``python sample_acquisition.py --ip 127.0.0.1 --port P [--squared]``.
"""

import argparse
import time

import numpy

from Licel import licel_data, licel_tcpip


def options():
    parser = argparse.ArgumentParser(description="sample acquisition")
    parser.add_argument("--ip", default="10.49.234.234")
    parser.add_argument("--port", type=int, default=2055)
    parser.add_argument("--device", type=int, default=0)
    parser.add_argument("--memory", default="MEM_A")
    parser.add_argument("--squared", default=False, action=argparse.BooleanOptionalAction)
    parser.add_argument("--bins", type=int, default=16000)
    parser.add_argument("--sqd_bins", type=int, default=4000)
    parser.add_argument("--range", default="100mV")
    return parser.parse_args()


def save(name, hardware, input_range, shots, values, what):
    header = f"ADC bits : {hardware['ADC Bits']:d}\r\n Input Range : {input_range}\r\n" \
             f" total shots : {shots:d}\r\n {what}"
    numpy.savetxt(name, values, header=header, newline="\r\n")


def main():
    args = options()
    input_range = "-" + args.range
    controller = licel_tcpip.EthernetController(args.ip, args.port)
    parser = licel_data.DataParser()

    controller.openConnection()
    print(controller.getID())
    print(controller.getCapabilities())
    print(controller.listInstalledTr())
    controller.selectTR(0)
    hardware = controller.Tr.TRtype()
    print("TR Info :", hardware)

    print(controller.Tr.setInputRange(input_range))
    print(controller.Tr.setThresholdMode("ON"))
    print(controller.Tr.setDiscriminatorLevel(8))
    print(controller.Tr.setMaxShots(4094))

    print(controller.Tr.startAcquisition())
    time.sleep(1)
    print(controller.Tr.stopAcquisition())
    print(controller.Tr.waitForReady(400))
    _, _, _, shots = controller.Tr.getStatus()
    print("Shots Acquired :", shots)

    analogue, _clipping = controller.Tr.getCombinedRawAnalogueData(
        hardware, parser, args.bins, shots, args.device, args.memory)
    millivolts = parser.scaleAnalogData(parser.normalizeData(analogue, args.bins, shots),
                                        input_range, hardware)
    save("analogueData.txt", hardware, input_range, shots, millivolts, "analogue data in mV")

    if args.squared:
        squares = controller.Tr.getCombinedRawAnalogueSquaredData(
            parser, args.sqd_bins, args.device, args.memory)
        spread = parser.getSquareRootBinary(analogue, squares, args.sqd_bins, shots)
        error = parser.meanError(parser.normalizeSquaredData(spread, shots), shots)
        save("analogueSqdData.txt", hardware, input_range, shots,
             parser.scaleAnalogData(error, input_range, hardware), "analogue mean error in mV")

    counts = controller.Tr.getRawPhotonCountingData(
        hardware, parser, args.bins, shots, args.device, args.memory)
    rate = parser.scale_PhotonCounting(parser.normalizeData(counts, args.bins, shots),
                                       hardware["binWidth"])
    save("photon.txt", hardware, input_range, shots, rate, "photon counting in MHz")

    if args.squared:
        squares = controller.Tr.getRawPhotonCountingSquaredData(
            parser, args.sqd_bins, args.device, args.memory)
        spread = parser.getSquareRootBinary(counts, squares, args.sqd_bins, shots)
        error = parser.meanError(parser.normalizeSquaredData(spread, shots), shots)
        save("photonSQD.txt", hardware, input_range, shots, error, "photon counting mean error")

    controller.shutdownConnection()


if __name__ == "__main__":
    main()
