# Build speed: ccache for compiles, mold (or lld) for links. Both are optional so that a plain
# toolchain still builds; scripts/install-deps.sh installs them.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

find_program(MOLD_PROGRAM mold)
if(MOLD_PROGRAM)
  add_link_options(-fuse-ld=mold)
endif()

add_compile_options(-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)

set(CISTERN_SANITIZE "" CACHE STRING "Sanitizers to build with: address,undefined | thread | empty")
if(CISTERN_SANITIZE)
  add_compile_options(-fsanitize=${CISTERN_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${CISTERN_SANITIZE})
endif()
