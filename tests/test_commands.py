"""The shared command table (PROTOCOL §1-2): formatting, parsing, replies, checks."""

from __future__ import annotations

import pytest

from licelpush.commands import (
    COMMANDS,
    CommandSyntaxError,
    ReplyMismatch,
    command,
    parse_request,
)
from licelpush.hardware import RecorderHardware, format_trtype, parse_trtype


def test_every_protocol_command_is_in_the_table():
    names = {"*IDN?", "CAP?", "MILLISEC?", "SELECT", "STAT?", "TRTYPE?", "SLAVE", "CLEAR",
             "DISC", "PRETRIG", "THRESHOLD", "SETMAXSHOTS", "SETMAXBINS", "LIMIT", "RANGE",
             "FREQDIV", "FREQDIV?", "BLOCK", "START", "STOP", "CONTINUE", "SINGLE", "MSTART",
             "MSTOP", "MCLEAR", "MCONTINUE", "MWAIT", "DATA?", "SHOTAB?", "MSHOTAB?",
             "MSHOTS?", "MPUSH", "PUSH", "PMTG", "PMT?"}
    assert names <= set(COMMANDS)


@pytest.mark.parametrize("name,args,line", [
    ("SELECT", ((0, 1, 2),), "SELECT 0,1,2"),
    ("SELECT", ((),), "SELECT -1"),
    ("SELECT", ((7,),), "SELECT 7"),
    ("DISC", (63,), "DISC 63"),
    ("RANGE", (2,), "RANGE 2"),
    ("FREQDIV", (3, 0), "FREQDIV 3 0"),
    ("BLOCK", ("OFF",), "BLOCK OFF"),
    ("DATA?", (3, 100, "LSW", "B"), "DATA? 3 100 LSW B"),
    ("MPUSH", (300, 0, 16000, "LSW", "A", 0, 16000, "MSW", "A"),
     "MPUSH 300 0 16000 LSW A 0 16000 MSW A"),
    ("*IDN?", (), "*IDN?"),
])
def test_request_round_trips_through_parse(name, args, line):
    assert command(name).request(*args) == line
    entry, parsed = parse_request(line)
    assert entry.name == name


@pytest.mark.parametrize("name,args", [
    ("DISC", (64,)), ("RANGE", (3,)), ("SELECT", ((16,),)), ("FREQDIV", (8, 0)),
    ("MPUSH", (300, 0, 100, "LSW")), ("MPUSH", (0, 0, 100, "LSW", "A")),
    ("BLOCK", ("E",)), ("DATA?", (0, 0, "LSW", "A")),
])
def test_request_refuses_invalid_arguments(name, args):
    with pytest.raises(ValueError):
        command(name).request(*args)


def test_parse_accepts_extra_spaces_and_lower_case():
    entry, args = parse_request("MPUSH 150  0 16000 LSW A  1 100 pc b \r\n")
    assert entry.name == "MPUSH"
    assert args["shots"] == 150
    assert args["groups"] == (
        {"recorder": 0, "bins": 16000, "type": "LSW", "memory": "A"},
        {"recorder": 1, "bins": 100, "type": "PC", "memory": "B"},
    )
    assert parse_request("select 0, 1,2")[1] == {"recorders": (0, 1, 2)}
    assert parse_request("SELECT -1")[1] == {"recorders": ()}


@pytest.mark.parametrize("line,fragment", [
    ("", "empty"), ("FOO 1", "unknown command"), ("DISC", "missing argument level"),
    ("DISC 99", "outside 0..63"), ("DISC x", "not an integer"), ("RANGE 1 2", "unexpected"),
    ("MPUSH 100 0 10 LSW", "groups of 4"), ("MPUSH 100 0 10 XYZ A", "group 1 type"),
])
def test_parse_errors_give_an_error_reply_without_executed(line, fragment):
    with pytest.raises(CommandSyntaxError) as err:
        parse_request(line)
    assert fragment in err.value.reason
    assert "executed" not in err.value.reply
    assert " error" in err.value.reply


@pytest.mark.parametrize("line,values", [
    ("SLAVE", {}), ("CLEAR", {}), ("PRETRIG 1", {}), ("RANGE 0", {}), ("RANGE 2", {}),
    ("DISC 12", {}), ("THRESHOLD 1", {}), ("FREQDIV 4 0", {}), ("BLOCK A", {}),
    ("MPUSH 10 0 10 PC A", {}), ("SETMAXSHOTS 4096", {}), ("MWAIT 10", {}),
    ("MILLISEC?", {"ms": 123}), ("*IDN?", {"idn": "Licel Ethernet controller 1.0"}),
    ("STAT?", {"status": "Shots 2 MemA"}), ("CAP?", {"caps": "TR PMT"}),
    ("PMT? 1", {"volts": 800}), ("SHOTAB?", {"shots": "2 2 2 2"}),
    ("TRTYPE?", {"trtype": format_trtype(RecorderHardware())}),
])
def test_emulator_replies_pass_the_client_checks(line, values):
    entry, args = parse_request(line)
    reply = entry.reply(args, **values)
    entry.check_reply(reply, args)
    entry.check_reply(reply + " debug text", args)  # extra text after the content is fine


def test_exact_replies_from_the_protocol():
    assert command("SLAVE").reply({}) == "SLAVE executed"
    assert command("CLEAR").reply({}) == "CLEAR Memory executed"
    assert command("PRETRIG").reply({"enabled": 1}) == "PRETRIG executed"
    assert command("RANGE").reply({"range": 1}) == "Input range set to -100mV"
    assert command("FREQDIV").reply({"exponent": 3}) == "FREQDIV 3 executed"


@pytest.mark.parametrize("line,reply", [
    ("RANGE 1", "Input range set to -500mV"),
    ("FREQDIV 3 0", "FREQDIV 2 executed"),
    ("SLAVE", "SLAVE error: not in push mode"),
    ("DISC 8", "DISC error: level"),
    ("MPUSH 10 0 10 PC A", "MPUSH error: bad"),
    ("STAT?", "STAT? error: bad"),
    ("STAT?", ""),
    ("*IDN?", "*IDN? error: unknown command"),
    ("TRTYPE?", "TRTYPE? error: no recorder selected"),
])
def test_client_check_rejects_wrong_replies(line, reply):
    entry, args = parse_request(line)
    with pytest.raises(ReplyMismatch):
        entry.check_reply(reply, args)


def test_trtype_round_trip_and_token_positions():
    hw = RecorderHardware(adc_bits=12, pc_bits=8, fifo_length=8192, bin_width_m=7.5, id=3,
                          hwcap=0x4F, bin_shift=2.25)
    text = format_trtype(hw)
    tokens = text.split()
    assert (tokens[3], tokens[6], tokens[8], tokens[10], tokens[12], tokens[14], tokens[16]) == (
        "12", "8", "8192", "7.5", "3", "0x4F", "2.25")
    assert parse_trtype(text) == hw
    assert parse_trtype(text + " extra debug") == hw


@pytest.mark.parametrize("reply", ["TRTYPE ADC Bits", "TRTYPE ADC Bits x PC Bits 4 FIFOLength "
                                   "16384 binwidth 3.75 ID 1 HWCAP 0x7F binshift 3.5"])
def test_trtype_parse_errors(reply):
    with pytest.raises(ValueError, match="TRTYPE"):
        parse_trtype(reply)
