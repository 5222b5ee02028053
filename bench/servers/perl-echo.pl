#!/usr/bin/perl
# The original: Danga::Socket (1.62) echo and sink servers.
#   perl perl-echo.pl [--port P] [--mode echo|sink]
# Prints the bound port on stdout, then runs Danga::Socket->EventLoop.
use strict;
use warnings;
use Danga::Socket;
use IO::Socket::INET;
use IO::Handle;

package EchoConn;
use base 'Danga::Socket';
use fields qw(count);

sub new {
    my ($class, $sock) = @_;
    my $self = fields::new($class);
    $self->SUPER::new($sock);
    $self->{count} = 0;
    return $self;
}

sub event_read {
    my $self = shift;
    my $r = $self->read(65536);
    return $self->close unless defined $r;
    $self->write($r) if length $$r;
}

sub event_hup { $_[0]->close }
sub event_err { $_[0]->close }

package SinkConn;
use base 'EchoConn';

sub event_read {
    my $self = shift;
    my $r = $self->read(65536);
    unless (defined $r) {
        $self->write("$self->{count}\n");
        return $self->close;
    }
    $self->{count} += length($$r // '');
}

package Listener;
use base 'Danga::Socket';
use fields qw(class);

sub new {
    my ($class, $sock, $conn_class) = @_;
    my $self = fields::new($class);
    $self->SUPER::new($sock);
    $self->{class} = $conn_class;
    return $self;
}

sub event_read {
    my $self = shift;
    while (my $c = $self->{sock}->accept) {
        $c->blocking(0);
        $self->{class}->new($c)->watch_read(1);
    }
}

package main;

my ($port, $mode) = (0, 'echo');
while (@ARGV) {
    my $a = shift @ARGV;
    if ($a eq '--port') { $port = shift @ARGV }
    elsif ($a eq '--mode') { $mode = shift @ARGV }
    else { die "usage: perl-echo.pl [--port P] [--mode echo|sink]\n" }
}
$SIG{PIPE} = 'IGNORE';

my $listen = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1',
    LocalPort => $port,
    Listen    => 1024,
    ReuseAddr => 1,
    Blocking  => 0,
) or die "listen: $!\n";

Listener->new($listen, $mode eq 'sink' ? 'SinkConn' : 'EchoConn')->watch_read(1);
STDOUT->autoflush(1);
print $listen->sockport, "\n";
Danga::Socket->EventLoop;
