using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Raid5Actors.Tests.Hosting;

/// <summary>
/// The part of a generic host these specs need: a service provider whose hosted services (Akka.Hosting's
/// own) are started in order and stopped in reverse. Akka.Hosting's hosted service asks only for an
/// <c>ILogger</c> and an <see cref="IHostApplicationLifetime"/>, so no Microsoft.Extensions.Hosting
/// package is needed.
/// </summary>
internal sealed class TestHost : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly RecordingLifetime _lifetime;
    private readonly List<IHostedService> _started = [];
    private bool _stopped;

    private TestHost(ServiceProvider services, RecordingLifetime lifetime)
    {
        _services = services;
        _lifetime = lifetime;
    }

    public IServiceProvider Services => _services;

    /// <summary>Akka.Hosting does not throw when its start fails: it logs and asks the application to stop.</summary>
    public bool StopRequested => _lifetime.StopRequested;

    public static async Task<TestHost> StartAsync(Action<IServiceCollection> configure)
    {
        var lifetime = new RecordingLifetime();
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IHostApplicationLifetime>(lifetime);
        configure(services);
        var host = new TestHost(services.BuildServiceProvider(), lifetime);
        foreach (var hosted in host._services.GetServices<IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None);
            host._started.Add(hosted);
        }
        return host;
    }

    public async Task StopAsync()
    {
        if (_stopped)
            return;
        _stopped = true;
        for (var i = _started.Count - 1; i >= 0; i--)
            await _started[i].StopAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _services.DisposeAsync();
    }

    private sealed class RecordingLifetime : IHostApplicationLifetime
    {
        private readonly CancellationTokenSource _stopping = new();

        public bool StopRequested => _stopping.IsCancellationRequested;

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => _stopping.Cancel();
    }
}
