//! Socket.IO v5 packets: the JSON parser with binary placeholders and the msgpack parser.
