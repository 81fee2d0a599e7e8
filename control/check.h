// `hafwctl check NODE.json [PEER.json]`: offline validation, no daemon.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace hafw::config {

// Validates one node's file, or two nodes' files and the pair they form.
// Prints one line per problem:
//   NODE.json's own:        "error: <json path>: <message>"
//   PEER.json's own:        "error: PEER.json: <json path>: <message>"
//   the pair (check_pair):  "error: PEER.json: <json path>: <message>" (paths
//                           point into PEER.json; the message names "the other node")
// ("warning: ..." likewise), then "OK: NODE.json" or
// "OK: NODE.json + PEER.json (pair)" when there is no error. The pair is
// checked only once both files pass alone.
// Returns 0 (no error; warnings allowed), 1 (any error), 2 (usage, unreadable file).
int check_command(const std::vector<std::string>& files, std::ostream& out);

}  // namespace hafw::config
