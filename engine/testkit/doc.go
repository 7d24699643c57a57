// Package testkit holds what the tests of several packages share: git in a
// temp folder, files, a free TCP address, polling, a python with pytest,
// and the start of a TestMain whose tests start rbflow's processes.
//
// Only tests import it (TestOnlyTestsImportTestkit checks): nothing here is
// part of rbflow. It imports engine/proc and nothing else of rbflow, so
// that the tests of every package above engine/proc can use it.
package testkit
