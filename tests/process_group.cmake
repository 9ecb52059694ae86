# esync_procs: the process group under `esync run` (fork/exec, prefixed output, fail-fast stop;
# no torch, no zmq), and its test with /bin/sh children. include()d from the top-level
# CMakeLists.txt after esync_core and esync_warnings are defined.
add_library(esync_procs STATIC ${CMAKE_SOURCE_DIR}/src/cli/process_group.cpp ${CMAKE_SOURCE_DIR}/src/cli/process_io.cpp)
target_include_directories(esync_procs PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(esync_procs PUBLIC esync_core PRIVATE esync_warnings)

include(GoogleTest)
add_executable(test_process_group ${CMAKE_SOURCE_DIR}/tests/test_process_group.cpp)
target_link_libraries(test_process_group PRIVATE esync_procs GTest::gtest_main esync_warnings)
gtest_discover_tests(test_process_group DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)
