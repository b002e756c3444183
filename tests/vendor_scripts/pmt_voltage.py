"""Set, read back and switch off a PMT high voltage through the vendor's ``Licel`` API.

The calls and their order are those of the vendor's ``pmt_example.py``; the
tests run the script unchanged from an empty folder. Usage:
``python pmt_voltage.py --ip 127.0.0.1 --port P --PMT 0 --voltage 700``.
"""

import argparse

from Licel import licel_tcpip, photomultiplier


def options():
    parser = argparse.ArgumentParser(description="PMT high voltage")
    parser.add_argument("--ip", default="10.49.234.234")
    parser.add_argument("--port", type=int, default=2055)
    parser.add_argument("--PMT", type=int, default=0)
    parser.add_argument("--voltage", type=int, default=0)
    return parser.parse_args()


def main():
    args = options()
    controller = licel_tcpip.EthernetController(args.ip, args.port)
    pmt = photomultiplier.photomultiplier(controller)
    controller.openConnection()
    controller.getID()
    print(controller.getCapabilities())
    print("installed:", pmt.listInstalledPMT())
    print("set:", pmt.setHV(args.PMT, args.voltage))
    print("read:", pmt.getHV(args.PMT))
    print("off:", pmt.setHV(args.PMT, 0))
    controller.shutdownConnection()


if __name__ == "__main__":
    main()
