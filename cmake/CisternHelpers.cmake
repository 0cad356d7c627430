# cistern_library(NAME SRCS ... DEPS ...): one static library per module; targets are named
# cistern_<name> with an alias cistern::<name>, so the link graph mirrors the module map in
# docs/architecture.md.
function(cistern_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(cistern_${name} STATIC ${ARG_SRCS})
  add_library(cistern::${name} ALIAS cistern_${name})
  target_include_directories(cistern_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(cistern_${name} PUBLIC ${ARG_DEPS})
endfunction()

# cistern_test(NAME SRCS ... DEPS ... [LABELS ...]): a GoogleTest binary registered with CTest.
function(cistern_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT CISTERN_BUILD_TESTS)
    return()
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set(labels unit)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  set(timeout 300)
  if(ARG_TIMEOUT)
    set(timeout ${ARG_TIMEOUT})
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${labels}" TIMEOUT ${timeout}
    ENVIRONMENT "CISTERN_BUILD_DIR=${PROJECT_BINARY_DIR};CISTERN_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
