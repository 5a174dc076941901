// Registering over aten makes the dispatcher print a multi-line warning
// ("Overriding a previously registered kernel for the same operator ...") at
// every program start and library load; overriding is the point of
// kernels/register.cpp, so that one warning is swallowed while its
// registrations run (begin before them, end after, by static initialisers in
// its definition order). Other warnings pass to the handler before.
#pragma once

namespace lockstep::kernels {

void quiet_overrides_begin();
void quiet_overrides_end();

}  // namespace lockstep::kernels
